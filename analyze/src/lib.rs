//! Analysis of samples files: scaled traffic estimates with confidence
//! intervals. Reads only through `pktsample-schemas`, never the capture side.
//!
//! Empty until the analyze issue; the crate exists so the workspace layout and
//! dependency direction (binary → {capture, analyze} → schemas) are fixed now.
