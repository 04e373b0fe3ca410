package models

// NoticeDataKeyRequested asks a tenant for the next data key of a key
// whose data keys it supplies: its rotation is due, and keyport does not
// make one itself.
const NoticeDataKeyRequested = "data_key_requested"
