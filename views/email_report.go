package views

import "strconv"

// ValidationReportNotice: the scheduled configuration validation report of
// a tenant, attached as JSON, to its owners and auditors.
func ValidationReportNotice(tenant, period, periodKey, verdict string, keys, failing int, reportsURL string) Notice {
	n := Notice{keyName: tenant, linkLabel: "Reports", linkURL: reportsURL,
		subject: "Configuration validation of " + tenant + " (" + periodKey + "): " + verdict,
		footer: "You receive this as an owner or auditor of " + tenant + " on keyport, which sends this report " + period +
			". An owner or admin can change that on the reports page."}
	n.paragraphs = []string{
		"The " + period + " configuration validation report of " + tenant + " for " + periodKey + " is attached as JSON: for each key, every expected property (enabled, symmetric, key policy, regions and replicas, rotation, material expiry, no drift) with pass, fail or not verified, the deviation, and an overall verdict.",
		"Overall verdict: " + verdict + ". Keys judged: " + strconv.Itoa(keys) + "; keys with a failed property: " + strconv.Itoa(failing) + ".",
		"The report names the audit chain's head when it was made, so a copy kept elsewhere anchors the audit log. The same report can be downloaded at any time from the reports page.",
	}
	return n
}
