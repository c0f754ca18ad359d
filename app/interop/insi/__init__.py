"""The CNAM INSi téléservice: SOAP 1.2 messages (pure) and the mutual-TLS client."""
