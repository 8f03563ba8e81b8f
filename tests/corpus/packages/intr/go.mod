module example.com/corpus/intr

go 1.22
