"""distributors."""
