"""`python -m shipyard.mcp`: the stdio MCP server (the same as `shipyard mcp`)."""

import shipyard.domains  # noqa: F401  # installs the domains' scopes, which every tool call checks
from shipyard.mcp.stdio import main

main()
