module example.com/corpus/flow

go 1.22
