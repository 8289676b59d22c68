"""loanflow's HTTP API."""
