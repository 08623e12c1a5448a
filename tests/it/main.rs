//! Integration tests: the built `tap-intercom` binary against the project's fake Intercom.

mod bad_data;
mod bad_input;
mod cli;
mod compat;
mod full_table;
mod fuzz;
mod http;
mod incremental;
mod loss;
mod selection;
mod slices;
mod state;
mod support;
mod versions;
