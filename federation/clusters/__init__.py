"""The only package that talks to member clusters."""
