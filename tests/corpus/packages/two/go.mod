module example.com/corpus/two

go 1.22
