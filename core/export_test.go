package core

// RequestID exposes requestID to the external tests.
var RequestID = requestID
