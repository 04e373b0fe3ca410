package manageapi

// operations is the one list of the management API's operations, by
// resource: routes and the OpenAPI document are both built from it.
func (a *API) operations() []Operation {
	var ops []Operation
	for _, group := range [][]Operation{
		a.connectionOps(),
		a.webhookOps(),
		a.keyOps(),
		a.storeOps(),
		a.importRequestOps(),
		a.rotationOps(),
		a.memberOps(),
		a.approvalOps(),
		a.auditOps(),
		a.reportOps(),
		a.apiKeyOps(),
	} {
		ops = append(ops, group...)
	}
	return ops
}
