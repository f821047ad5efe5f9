//! The typed `spec` of every kind, grouped by lifecycle stage.

mod data;
mod model;
mod operations;
mod tracking;

pub use data::*;
pub use model::*;
pub use operations::*;
pub use tracking::*;
