"""vedapi: the drill lab stand-in for the vedfinance production API."""
