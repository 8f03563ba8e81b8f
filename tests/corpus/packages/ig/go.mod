module example.com/corpus/ig

go 1.22
