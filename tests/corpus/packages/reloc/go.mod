module example.com/corpus/reloc

go 1.22
