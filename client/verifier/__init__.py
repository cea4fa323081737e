"""The offline verifier: everything a regulator needs to check a bundle without the network."""
