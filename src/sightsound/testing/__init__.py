"""Test doubles shipped with the package: servers that misbehave on purpose, for tests of the clients."""
