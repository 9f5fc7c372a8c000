//! File-transfer protocol (issue 5): work in progress.
