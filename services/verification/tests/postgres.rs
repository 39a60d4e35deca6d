//! The integration suite against the real PostgreSQL (a fresh database per test, dropped
//! after). Skips with a printed reason when PostgreSQL is absent, unless
//! `BROWSER_STREAM_REQUIRE_ALL=1`.

mod common;
mod reflection;
mod suite;

all_suite_tests!(common::TestDb::postgres);
