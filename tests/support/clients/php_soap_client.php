<?php
// A non-Python SOAP stack: PHP's SoapClient imports ?wsdl and calls FileBatch, then GetStatus,
// with the ActivityMetadata header (sent with mustUnderstand, as such stacks do).
// Usage: php php_soap_client.php WSDL_URL 1.1|1.2 INPUT_NAME
// Prints one JSON object: the job id and the GetStatus answer, or the fault.
$wsdl = $argv[1];
$version = $argv[2] === '1.2' ? SOAP_1_2 : SOAP_1_1;
$input = $argv[3];
$ns = 'http://genpact.com/cora/orchestration/ocr/1.0.0/api/';
$guid = '6f1c0a52-4a43-4f3e-9a43-1b2c3d4e5f60';

function activity(int $jobId) {
    global $guid;
    return [
        'WorkflowSpaceId' => $guid, 'WorkflowSpaceName' => 'Claims',
        'WorkflowId' => $guid, 'WorkflowName' => 'Intake', 'WorkflowInstanceId' => 7001,
        'ActivityId' => $guid, 'ActivityName' => 'OCR', 'ActivityInstanceId' => 7002,
        'CallerId' => 42, 'MasterWorkflowInstanceId' => $jobId,
    ];
}

try {
    $client = new SoapClient($wsdl, [
        'soap_version' => $version, 'cache_wsdl' => WSDL_CACHE_NONE, 'exceptions' => true,
    ]);
    $file = fn(string $folder, string $name) => [
        'Connection' => 'CoraOCRExternalConnection', 'RelativeLocation' => $folder,
        'FileName' => $name,
    ];
    $submitted = $client->__soapCall('FileBatch', [[
        'TimeOut' => 300, 'ExternalContext' => "php \u{00e9}\r\n<&>",
        'InputFile' => $file('in', $input), 'OCRProfile' => 'Default',
        'OutPutFile' => $file('out', $input . '.xml'), 'PutModel' => 'Rename',
    ]], null, [new SoapHeader($ns, 'ActivityMetadata', activity(0), true)]);
    $jobId = $submitted->FileBatchResult->MasterWorkflowInstanceId;
    $status = $client->__soapCall('GetStatus', [[]], null,
        [new SoapHeader($ns, 'ActivityMetadata', activity((int) $jobId), true)]);
    echo json_encode([
        'job' => (int) $jobId,
        'status' => $status->GetStatusResult->Status,
        'error' => $status->GetStatusResult->ErrorCode,
        'context' => $status->GetStatusResult->ExternalContext ?? null,
    ]), "\n";
} catch (SoapFault $fault) {
    echo json_encode(['fault' => $fault->faultcode, 'text' => $fault->getMessage()]), "\n";
    exit(1);
}
