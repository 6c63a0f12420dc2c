"""Login, bearer tokens and cookies, visitor tokens, permission-checked fetchers."""
