//! Remote MCP servers as upstream sources (being written).
