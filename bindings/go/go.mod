module lookupd.example/bindings/go

go 1.19
