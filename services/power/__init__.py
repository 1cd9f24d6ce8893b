"""Power control: the fleet power controller and the allocator that turns its target into per-miner settings."""
