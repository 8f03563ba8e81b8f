module example.com/corpus/shared

go 1.22
