module example.com/corpus/provided

go 1.22
