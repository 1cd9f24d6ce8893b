"""Solo mining: which miners mine solo, the network difficulty, and the odds of a block (docs/wallets.md)."""
