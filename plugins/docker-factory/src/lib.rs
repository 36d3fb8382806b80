//! docker-factory (being written).
