module example.com/gometa

go 1.26
