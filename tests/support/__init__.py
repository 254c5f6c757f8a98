"""What the test tiers share besides fixtures: factories of requests and records, the calls
many tests make, the processes and servers users run (and the real servers the tests start
beside them: sshd, smbd, SeaweedFS, Azurite, FTPS, an MIT Kerberos realm, nginx), the corpus of
real-shaped documents, waiting with deadlines."""
