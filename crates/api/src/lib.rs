//! ferrocache-api (skeleton)
