module chappe.eu/chappe

go 1.26.8
