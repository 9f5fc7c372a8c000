// Shortens the names of the Wasm module's imports in the web build, and renames
// the keys of the JS glue's import object to match:
//
//   node scripts/binaryen/minify-imports.mjs pkg/peerlink_bg.wasm pkg/peerlink.js \
//        pkg/peerlink.d.ts pkg/peerlink_bg.wasm.d.ts
//
// wasm-bindgen names every import after its JS function plus a 16-digit hash
// (`__wbg_addEventListener_c4f780106c414839`), and both files carry all ~200 of
// those names: ~6 KB gzipped that say nothing to a browser. binaryen's
// minify-imports-and-exports-and-modules pass renames them (module `a`, imports
// `a`, `b`, ...); it renames the exports too, which are put back, since the glue,
// `InitOutput` in peerlink.d.ts and `init()`'s result use their names.
//
// The exports of wasm-bindgen's closure trampolines get short names too: named
// after their Rust types with crate hashes
// (`wasm_bindgen_305e…___convert__closures_____invoke___…`, ~200 characters
// each), they become `__wbc0`, `__wbc1`, ... in the module, the glue and the
// declarations (only the glue calls them). (scripts/pkg.sh then strips the
// `producers` and `target_features` sections with wasm-opt.)
//
// The glue is rewritten by exact names only, and checked: every import of the
// new module must be a key of its import object and no old name may be left.
import binaryen from 'binaryen';
import { readFileSync, writeFileSync } from 'node:fs';

const [wasmPath, jsPath, ...declarationPaths] = process.argv.slice(2);
if (!wasmPath || !jsPath) {
  console.error('usage: minify-imports.mjs MODULE.wasm GLUE.js [DECLARATIONS.d.ts...]');
  process.exit(2);
}

// The features come from the module's target_features section.
const module = binaryen.readBinary(readFileSync(wasmPath));

const functions = () => {
  const out = [];
  for (let i = 0; i < module.getNumFunctions(); i++) {
    out.push(binaryen.getFunctionInfo(module.getFunctionByIndex(i)));
  }
  return out;
};
const exports = () => {
  const out = [];
  for (let i = 0; i < module.getNumExports(); i++) {
    out.push(binaryen.getExportInfo(module.getExportByIndex(i)));
  }
  return out;
};

const imported = new Map(
  functions().filter((f) => f.module).map((f) => [f.name, { module: f.module, base: f.base }]),
);
const oldExports = exports();

// The pass prints its renaming table (to stdout); the renaming is read back
// from the module instead.
const write = process.stdout.write;
process.stdout.write = () => true;
try {
  module.runPasses(['minify-imports-and-exports-and-modules']);
} finally {
  process.stdout.write = write;
}

for (const e of exports()) module.removeExport(e.name);
const addExport = {
  [binaryen.ExternalFunction]: (value, name) => module.addFunctionExport(value, name),
  [binaryen.ExternalTable]: (value, name) => module.addTableExport(value, name),
  [binaryen.ExternalMemory]: (value, name) => module.addMemoryExport(value, name),
  [binaryen.ExternalGlobal]: (value, name) => module.addGlobalExport(value, name),
};
const trampoline = /^wasm_bindgen_[0-9a-f]{16}___convert__closures_/;
const exportRenamed = new Map(); // old export name -> new
for (const e of oldExports) {
  if (e.kind === binaryen.ExternalFunction && trampoline.test(e.name)) {
    exportRenamed.set(e.name, `__wbc${exportRenamed.size}`);
  }
}
const exportNames = new Set(oldExports.map((e) => e.name));
for (const name of exportRenamed.values()) {
  if (exportNames.has(name)) throw new Error(`minify-imports: an export is already named ${name}`);
}
for (const e of oldExports) {
  const add = addExport[e.kind];
  if (!add) throw new Error(`minify-imports: cannot restore export ${e.name} of kind ${e.kind}`);
  add(e.value, exportRenamed.get(e.name) ?? e.name);
}

const renamed = new Map(); // old base -> new base
let oldModule;
let newModule;
for (const f of functions().filter((f) => f.module)) {
  const old = imported.get(f.name);
  if (!old) throw new Error(`minify-imports: import ${f.name} appeared from nowhere`);
  if ((oldModule ?? old.module) !== old.module || (newModule ?? f.module) !== f.module) {
    throw new Error('minify-imports: expected every import from one module');
  }
  oldModule = old.module;
  newModule = f.module;
  renamed.set(old.base, f.base);
}
if (renamed.size !== imported.size) {
  throw new Error(`minify-imports: ${imported.size} imports before, ${renamed.size} after`);
}
const binary = module.emitBinary();
module.dispose();

// The glue: `"./peerlink_bg.js": import0` and one `    NAME: function(...` per import.
let js = readFileSync(jsPath, 'utf8');
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const replaceOnce = (pattern, replacement, what) => {
  const matches = js.match(new RegExp(pattern.source, pattern.flags + 'g')) ?? [];
  if (matches.length !== 1) {
    throw new Error(`minify-imports: ${what} found ${matches.length} times in ${jsPath}`);
  }
  js = js.replace(pattern, replacement);
};
replaceOnce(
  new RegExp(`${escape(JSON.stringify(oldModule))}:`),
  () => `${JSON.stringify(newModule)}:`,
  `module ${oldModule}`,
);
for (const [oldName, newName] of renamed) {
  replaceOnce(
    new RegExp(`^(\\s+)${escape(oldName)}:`, 'm'),
    (_, indent) => `${indent}${JSON.stringify(newName)}:`,
    `import ${oldName}`,
  );
  if (js.includes(oldName)) throw new Error(`minify-imports: ${oldName} is still used in ${jsPath}`);
}
// The trampolines, in the glue (`wasm.NAME(`) and the declarations (InitOutput).
const renameExports = (text, path) => {
  for (const [oldName, newName] of exportRenamed) {
    text = text.replace(new RegExp(`${escape(oldName)}(?![\\w$])`, 'g'), newName);
  }
  if (/wasm_bindgen_[0-9a-f]{16}___convert__closures_/.test(text)) {
    throw new Error(`minify-imports: a closure export keeps its long name in ${path}`);
  }
  return text;
};
for (const [oldName, newName] of exportRenamed) {
  if (!new RegExp(`\\.${escape(oldName)}\\(`).test(js)) {
    throw new Error(`minify-imports: the glue never calls export ${oldName}`);
  }
  if (js.includes(newName)) throw new Error(`minify-imports: ${newName} is already used in ${jsPath}`);
}
js = renameExports(js, jsPath);
const declarations = declarationPaths.map((path) => [path, renameExports(readFileSync(path, 'utf8'), path)]);

// The browser's own view of the result: what the module imports and exports.
const compiled = new WebAssembly.Module(binary);
const names = (list) => list.map((e) => `${e.kind} ${e.name}`).sort().join('\n');
const before = new WebAssembly.Module(readFileSync(wasmPath));
const renamedExports = WebAssembly.Module.exports(before).map((e) => ({
  kind: e.kind,
  name: exportRenamed.get(e.name) ?? e.name,
}));
if (names(WebAssembly.Module.exports(compiled)) !== names(renamedExports)) {
  throw new Error('minify-imports: the exports changed');
}
for (const i of WebAssembly.Module.imports(compiled)) {
  if (i.module !== newModule || !new RegExp(`^\\s+${escape(JSON.stringify(i.name))}:`, 'm').test(js)) {
    throw new Error(`minify-imports: import ${i.module}.${i.name} has no key in ${jsPath}`);
  }
}

writeFileSync(wasmPath, binary);
writeFileSync(jsPath, js);
for (const [path, text] of declarations) writeFileSync(path, text);
console.log(
  `minify-imports: ${renamed.size} imports and ${exportRenamed.size} closure exports renamed in ${wasmPath} and ${jsPath}`,
);
