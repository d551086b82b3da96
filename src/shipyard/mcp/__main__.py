"""`python -m shipyard.mcp`: the stdio MCP server (the same as `shipyard mcp`)."""

from shipyard.mcp.stdio import main

main()
