"""The front door: ASMX dispatch, hardened parsing, WSDL, HTTP GET/POST bindings."""
