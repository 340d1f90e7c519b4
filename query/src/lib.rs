//! PromQL evaluation over the storage contract (being written).
