"""IHE XDS.b for the DMP: ebRIM metadata (ITI-41, ITI-18), SOAP 1.2 with MTOM/XOP, VIHF assertion."""
