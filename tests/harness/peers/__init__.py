"""Tests of the peer benchmark's servers and answer check (harness/peers/)."""
