"""The read-only MCP server: streamable HTTP at `/mcp` and stdio through `shipyard mcp`."""
