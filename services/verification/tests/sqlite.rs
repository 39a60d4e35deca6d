//! The integration suite against SQLite (a temp file per test).

mod common;
mod reflection;
mod suite;

all_suite_tests!(common::TestDb::sqlite);
