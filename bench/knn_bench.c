/*
 * bench/knn_bench.c — the k-NN core alone (analysis/tl_knn.h): CPU and wall
 * time of tl_knn_exact (mode 0) or tl_knn_descent (mode 1) on n clustered
 * points in 32 dimensions (100 centres), one BLAS thread; with a third
 * argument, recall@10 of the result against exact search for up to 20,000
 * query points.  Peak memory: run it under /usr/bin/time -v.
 *
 *   gcc -O3 -Isrc/core $(pkg-config --cflags openblas) -o /tmp/knn_bench bench/knn_bench.c \
 *       src/core/analysis/tl_knn.c src/core/base/tl_status.c src/core/base/tl_memory.c \
 *       $(pkg-config --libs openblas) -lm
 *   /usr/bin/time -v /tmp/knn_bench 1000000 1
 */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
#include <cblas.h>
#include "analysis/tl_knn.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static double cpu(void){return (double)clock()/CLOCKS_PER_SEC;}
int
main(int argc, char **argv)
{
  int n=atoi(argv[1]), d=32, k=10, mode=atoi(argv[2]);
  float *x=malloc(sizeof(float)*(size_t)n*d); uint64_t s=1;
  float *c=malloc(sizeof(float)*100*d);
  for(int i=0;i<100*d;i++){s=s*6364136223846793005ULL+1442695040888963407ULL;c[i]=3.0f*((s>>40)/(float)(1<<24)-0.5f)*3;}
  for(size_t i=0;i<(size_t)n;i++)for(int j=0;j<d;j++){s=s*6364136223846793005ULL+1442695040888963407ULL;x[i*d+j]=c[(i%100)*d+j]+((s>>40)/(float)(1<<24)-0.5f);}
  int32_t*idx=malloc(sizeof(int32_t)*(size_t)n*k); float*dist=malloc(sizeof(float)*(size_t)n*k); tl_status st={0};
  openblas_set_num_threads(1);
  double t0=now(),c0=cpu();
  int rc = mode==0 ? tl_knn_exact(x,n,x,n,d,k,1,idx,dist,&st) : tl_knn_descent(x,n,d,k,7,30,idx,dist,&st);
  printf("n=%d %s rc=%d wall %.2f s cpu %.2f s\n",n,mode?"descent":"exact",rc,now()-t0,cpu()-c0);
  if(argc>3){ int32_t*ex=malloc(sizeof(int32_t)*(size_t)n*k); tl_status s2={0};
    int m = n < 20000 ? n : 20000; /* recall on a sample of queries */
    float *q = x; tl_knn_exact(x,n,q,m,d,k,0,ex,NULL,&s2); long hits=0;
    for(int i=0;i<m;i++)for(int a=0;a<k;a++)for(int b=0;b<=k;b++) if(b<k && idx[(size_t)i*k+a]==ex[(size_t)i*k+b]) hits++;
    /* ex includes self at rank 0: recall against the k-1 others + self excluded */
    printf("recall@10 (vs exact, %d queries, self excluded approx) %.4f\n", m, (double)hits/((double)m*(k-1)));
  }
  return 0;}
