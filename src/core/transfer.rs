//! File-transfer protocol (issue 5): placeholder until the state machine lands.
