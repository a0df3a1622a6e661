//! Integration tests: the real `orc-log` binary.
