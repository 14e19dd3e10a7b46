//! Ferrocache's time-series store (being written).
