"""XML namespaces and wire names of the contract, defined once."""

TNS = "http://genpact.com/cora/orchestration/ocr/1.0.0/api/"
MS_TYPES = "http://microsoft.com/wsdl/types/"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
XML = "http://www.w3.org/XML/1998/namespace"

SERVICE_PATH = "/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
OPERATIONS = ("FileBatch", "GetStatus")
HTTP_OPERATIONS = ("GetStatus",)
HEADER_NAME = "ActivityMetadata"
HEADER_TAG = f"{{{TNS}}}{HEADER_NAME}"
