package views

// StoresPage lists the tenant's key stores with the form for a new one.
type StoresPage struct {
	Stores      []StoreRow
	Connections []Option
	Regions     []string // the regions the provider allows, as on the connection form
	Form        StoreForm
	CanManage   bool
}

// StoreForm is the new-store form as typed.
type StoreForm struct {
	Name, ConnectionID, Region string
	Errors                     map[string]string
}

// StoreRow is one key store with its keys counted by state.
type StoreRow struct {
	ID, Name, Connection, Region, Counts string
}

// StoreDetail is one store: its keys, the create-key form, rename and
// delete (with the keys that block it).
type StoreDetail struct {
	ID, Name, Connection, Region string
	Keys                         []StoreKeyRow
	Blocking                     []StoreKeyRow
	CanManage                    bool
	Create                       CreateKeyForm
	RenameErrors                 map[string]string
}

// StoreKeyRow is a key of a store.
type StoreKeyRow struct {
	ID, Name, State string
}

// CreateKeyForm is the "create a key with keyport-generated material" form.
type CreateKeyForm struct {
	Name, Alias, ValidDays string
	AutoReupload           bool
	Errors                 map[string]string
	Failed                 string // why the last attempt's operation failed
}
