//! HTTP APIs described by OpenAPI 3 documents (see the helper).
