module example.com/corpus/markers

go 1.22
