//! Integration tests: the built `tap-intercom` binary against the project's fake Intercom.

mod api_versions;
mod bad_data;
mod bad_input;
mod cli;
mod compat;
mod drift;
mod exports;
mod fields;
mod full_table;
mod fuzz;
mod http;
mod incremental;
mod loss;
mod network;
mod new_streams;
mod notes;
mod selection;
mod slices;
mod state;
mod support;
mod surprises;
mod versions;
