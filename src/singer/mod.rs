//! The Singer side: the catalog (discovery and selection), the state, and the one writer that
//! owns stdout.

pub mod catalog;
pub mod output;
pub mod state;

pub use catalog::Catalog;
pub use output::Output;
pub use state::State;
