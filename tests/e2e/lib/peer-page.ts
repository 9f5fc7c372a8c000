import { expect, type Locator, type Page } from '@playwright/test';

/** How long WebRTC may take to connect (measured: tens of ms; CI machines are slow). */
export const CONNECT_TIMEOUT_MS = 20_000;

/** `[name="value"]` with the value quoted for CSS. */
function attr(name: string, value: string): string {
  return `[${name}=${JSON.stringify(value)}]`;
}

/**
 * One participant's page, driven through the data-testid hooks of
 * www/index.html (the contract is listed in tests/README.md).
 */
export class PeerPage {
  readonly status: Locator;
  readonly joinForm: Locator;
  readonly roomInput: Locator;
  readonly nameInput: Locator;
  readonly passwordInput: Locator;
  readonly joinButton: Locator;
  readonly shareLink: Locator;
  readonly myName: Locator;
  readonly participantList: Locator;
  readonly participants: Locator;
  readonly chatInput: Locator;
  readonly chatSend: Locator;
  readonly chatLog: Locator;
  readonly messages: Locator;
  /** What the page logged (console and uncaught errors), for failure reports. */
  readonly consoleLog: string[] = [];

  constructor(
    readonly page: Page,
    /** The display name this peer joins with. */
    readonly name: string,
  ) {
    this.status = page.getByTestId('status');
    this.joinForm = page.getByTestId('join-form');
    this.roomInput = page.getByTestId('room-input');
    this.nameInput = page.getByTestId('name-input');
    this.passwordInput = page.getByTestId('password-input');
    this.joinButton = page.getByTestId('join-button');
    this.shareLink = page.getByTestId('share-link');
    this.myName = page.getByTestId('my-name');
    this.participantList = page.getByTestId('participants');
    this.participants = this.participantList.getByTestId('participant');
    this.chatInput = page.getByTestId('chat-input');
    this.chatSend = page.getByTestId('chat-send');
    this.chatLog = page.getByTestId('chat-log');
    this.messages = this.chatLog.getByTestId('chat-message');
    page.on('console', (msg) => this.consoleLog.push(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (err) => this.consoleLog.push(`[pageerror] ${err.message}`));
  }

  /**
   * Opens the page and waits until the Wasm app has started. The static HTML
   * already says data-state="idle" with the text "Loading…"; the app replaces
   * that text once it runs, and only then does the form do anything.
   */
  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await expect(this.status).toHaveAttribute('data-state', 'idle');
    await expect(this.status).not.toHaveText(/^\s*Loading/);
  }

  /** Fills the join form and submits it (does not wait for the outcome). */
  async submitJoin(room: string, options: { password?: string } = {}): Promise<void> {
    await this.roomInput.fill(room);
    await this.nameInput.fill(this.name);
    if (options.password !== undefined) await this.passwordInput.fill(options.password);
    await this.joinButton.click();
  }

  /** Joins `room` and waits until the signaling server has accepted us. */
  async join(room: string, options: { password?: string } = {}): Promise<void> {
    await this.submitJoin(room, options);
    await this.expectJoined();
  }

  async expectJoined(): Promise<void> {
    await expect(this.status).toHaveAttribute('data-state', 'joined');
    await expect(this.myName).toHaveText(this.name);
  }

  /** The participant entry for `name` (other peers only). */
  participant(name: string): Locator {
    return this.participantList.locator(`[data-testid="participant"]${attr('data-name', name)}`);
  }

  /** Waits until exactly `others` are listed, each with a connected RTCPeerConnection. */
  async expectConnectedTo(others: readonly PeerPage[]): Promise<void> {
    await expect(this.participants).toHaveCount(others.length, { timeout: CONNECT_TIMEOUT_MS });
    for (const other of others) {
      const entry = this.participant(other.name);
      await expect(entry).toHaveCount(1);
      await expect(entry).toContainText(other.name);
      await expect(entry).toHaveAttribute('data-state', 'connected', { timeout: CONNECT_TIMEOUT_MS });
    }
  }

  /** Sends a chat message with the Send button, or with Enter in the input. */
  async sendChat(text: string, via: 'button' | 'enter' = 'button'): Promise<void> {
    await this.chatInput.fill(text);
    if (via === 'enter') {
      await this.chatInput.press('Enter');
    } else {
      await this.chatSend.click();
    }
  }

  /** Chat messages whose sender is `from` (own messages carry our own name). */
  messagesFrom(from: string): Locator {
    return this.chatLog.locator(`[data-testid="chat-message"]${attr('data-from', from)}`);
  }

  /** Waits until the texts of `from`'s messages are exactly `texts`, in order. */
  async expectMessagesFrom(from: string, texts: readonly string[]): Promise<void> {
    await expect(this.messagesFrom(from).getByTestId('chat-text')).toHaveText([...texts], {
      timeout: CONNECT_TIMEOUT_MS,
    });
  }
}
